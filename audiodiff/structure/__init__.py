"""Structure level: plan tokens, the beat-token transformer's training data, task and sampler."""
