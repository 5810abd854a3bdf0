"""Hostile strings for XSS tests: each would set window.__xss, open a dialog or inject an
element carrying a data-xss attribute if a page rendered it as markup instead of text."""

XSS_PAYLOADS = [
    "<script>window.__xss=1</script>",
    "<script data-xss>alert(1)</script>",
    '<img src=x data-xss onerror="window.__xss=2">',
    "<img src=x data-xss onerror=alert(document.domain)>",
    "<svg data-xss onload=window.__xss=3>",
    "<svg><script data-xss>window.__xss=4</script></svg>",
    '" onmouseover="window.__xss=5" data-xss="',
    "' onfocus='window.__xss=6' autofocus data-xss='",
    '"><script>window.__xss=7</script>',
    "'><img src=x data-xss onerror=window.__xss=8>",
    "</textarea><script>window.__xss=9</script>",
    "</title><script>window.__xss=10</script>",
    "</script><script>window.__xss=11</script>",
    '<iframe data-xss src="javascript:window.parent.__xss=12"></iframe>',
    '<iframe data-xss srcdoc="<script>parent.__xss=13</script>"></iframe>',
    '<a data-xss href="javascript:window.__xss=14">click</a>',
    "javascript:window.__xss=15",
    "<body data-xss onload=window.__xss=16>",
    "<details data-xss open ontoggle=window.__xss=17>",
    "<input data-xss autofocus onfocus=window.__xss=18>",
    "<video data-xss><source onerror=window.__xss=19></video>",
    "<math><mtext><table><mglyph><style><img src=x data-xss onerror=window.__xss=20>",
    '<object data-xss data="javascript:window.__xss=21"></object>',
    '<embed data-xss src="javascript:window.__xss=22">',
    "<marquee data-xss onstart=window.__xss=23>x</marquee>",
    '<div data-xss style="background:url(javascript:window.__xss=24)">',
    "<form data-xss><button formaction=javascript:window.__xss=25>x</button></form>",
    '<meta data-xss http-equiv="refresh" content="0;url=javascript:window.__xss=26">',
    '<base data-xss href="javascript:window.__xss=27//">',
    "<template><img src=x data-xss onerror=window.__xss=28></template>",
    "{{ request.user }}{% csrf_token %}",
    "${window.__xss=30}`${window.__xss=30}`",
    "\u202e<img src=x data-xss onerror=window.__xss=31>\u202c",
    "&lt;script&gt;window.__xss=32&lt;/script&gt;",
    "<scr<script>ipt>window.__xss=33</scr</script>ipt>",
    "<img src=x data-xss onerror=&#119;indow.__xss=34>",
    '<style>body{background:url("javascript:window.__xss=35")}</style><b data-xss>x</b>',
    'hx-get="/logout/" hx-trigger="load" data-xss',
    '<div data-xss hx-post="/logout/" hx-trigger="load">',
    "<svg data-xss><animate onbegin=window.__xss=38 attributeName=x dur=1s>",
]

# JavaScript run on every page after it loads: what executed or got injected.
PAGE_PROBE = r"""() => {
    const handlers = [];
    for (const el of document.querySelectorAll('*')) {
        for (const attr of el.attributes) {
            const name = attr.name.toLowerCase();
            const value = attr.value.trim();
            // Event handlers (on*, htmx hx-on*) must not carry payload code; URLs must not be
            // javascript:; hx-vals / hx-headers hold JSON unless prefixed js: (then evaluated).
            const handler = (name.startsWith('on') || name.startsWith('hx-on')) && /__xss|alert\(/.test(value);
            const url = ['href', 'src', 'formaction', 'data', 'action', 'hx-get', 'hx-post'].includes(name) &&
                        /^javascript:/i.test(value);
            const evaluated = ['hx-vals', 'hx-headers', 'hx-vars'].includes(name) && /^(js|javascript):/i.test(value);
            if (handler || url || evaluated) handlers.push(el.tagName + ' ' + name + '=' + value);
        }
    }
    const inline = [...document.querySelectorAll('script')].filter(s => /__xss|alert\(/.test(s.textContent));
    return {
        xss: typeof window.__xss === 'undefined' ? null : String(window.__xss),
        injected: document.querySelectorAll('[data-xss]').length,
        handlers: handlers,
        scripts: inline.length,
    };
}"""
