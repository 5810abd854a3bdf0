"""Said wherever a score is shown: a confident sentence is not a verified one."""

TRUTH_NOTE = "Logprobs measure how probable the model found each token, not whether the text is true."
