"""Deliberate breaks of lectures/07_beta_vae.ipynb: each must make the claims it names fail."""
from lecture_breaks import Break

BREAKS = [
    # the prior with the wrong scale, N(0, 2²): the KL of a posterior equal to N(0, 1) is no longer 0 nats,
    # and ½μ² no longer holds for a unit-variance posterior
    Break("PRIOR = Normal(0.0, 1.0) ", "PRIOR = Normal(0.0, 2.0) ",
          claims=("KL at the prior", "KL with mu = 1")),
    # β weights the reconstruction term instead of the KL: the trade-off runs backwards,
    # β = 8 behaves like a small β (every latent on)
    Break('{"loss": rec + beta * kl,', '{"loss": beta * rec + kl,',
          claims=("rate falls", "distortion rises", "rate at β = 0.25", "rate at β = 8",
                  "distortion at β = 8", "active latents at β = 8")),
    # a threshold in the wrong units: no latent counts as active
    Break("ACTIVE = 0.1 ", "ACTIVE = 100.0 ", claims=("all 6 latents active", "active latents at β = 8")),
    # two bins per latent: the MIG can no longer see 8 positions, so even the true factors score low
    Break("def mig(codes, factors, n_bins=20):", "def mig(codes, factors, n_bins=2):",
          claims=("MIG of the true factors", "MIG of the code x+y")),
]
