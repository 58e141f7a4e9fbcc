"""The acoustic level: plan features, the latent diffusion model, its data and training task."""
