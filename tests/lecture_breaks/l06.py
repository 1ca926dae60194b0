"""Deliberate breaks of lecture 06 (VAE and the ELBO): each is a small, typical mistake."""
from lecture_breaks import Break

BREAKS = [
    # section 3: a plain sample made a leaf that takes gradients (they stop there); a wrong function; the variance
    # passed as the log-variance
    Break("z_plain = q.sample((200_000,))", "z_plain = q.sample((200_000,)).requires_grad_()",
          claims=(".sample() has no grad_fn",)),
    Break("(z ** 2).mean(0).sum().backward()", "(z ** 3).mean(0).sum().backward()",
          claims=(".rsample(): largest",)),
    Break("(reparameterise(mu.expand(200_000, 3), logvar.expand(200_000, 3)) ** 2)",
          "(reparameterise(mu.expand(200_000, 3), logvar.expand(200_000, 3).exp()) ** 2)",
          claims=("our reparameterise()",)),
    # section 4: the KL formula without its −1 (H(q) without its ½)
    Break("0.5 * (second_moment - 1 - logvar)", "0.5 * (second_moment - logvar)",
          claims=("largest |closed form − Monte Carlo|", "largest |closed form − torch.distributions|", "KL at mu = 0")),
    # section 5: the KL subtracted in the reported test loss
    Break("test = evaluate(vae, x_test, vae_step)", "test = evaluate(vae, x_test, lambda m, b: negative_elbo(m, b, beta=-1.0))",
          claims=("|test −ELBO − (reconstruction + KL)|",)),
    # section 6: the ELBO with the sign of the loss; the IWAE bound without its 1/k; the prior not swapped in;
    # bits per dimension without the number of pixels
    Break("elbo = w.mean(dim=0).mean().item()", "elbo = -w.mean(dim=0).mean().item()",
          claims=("|L_1 − ELBO|", "ELBO < L_10")),
    Break("(torch.logsumexp(w[:k], dim=0) - math.log(k))", "torch.logsumexp(w[:k], dim=0)",
          claims=("rise of the bound",)),
    Break("mu, logvar = torch.zeros_like(mu), torch.zeros_like(logvar)", "pass",
          claims=("effective sample size", "prior as proposal − encoder")),
    Break("return nats_per_image / (D * math.log(2))", "return nats_per_image / math.log(2)",
          claims=("a fair coin per pixel", "test bound in bits per dimension")),
    # section 7: σ_x² = 1/2 trained with σ_x = 0.1
    Break('("Gaussian σ_x² = 1/2", math.sqrt(0.5))', '("Gaussian σ_x² = 1/2", 0.1)',
          claims=("test KL: σ_x²", "squared error: σ_x²")),
    # section 8: the VAE's samples shown as logits, without the sigmoid
    Break('"VAE, z ~ N(0, I)": decode_mean(vae, z_prior)', '"VAE, z ~ N(0, I)": vae.decode(z_prior).detach()',
          claims=("VAE prior samples",)),
    # section 11: the heavy model trained with β = 1; warm-up that climbs to β = 4
    Break("negative_elbo(m, b, beta=4.0)", "negative_elbo(m, b, beta=1.0)",
          claims=("test KL: β = 4", "test −ELBO: β = 4")),
    Break("def warmup_step(n_steps, beta_max=1.0):", "def warmup_step(n_steps, beta_max=4.0):",
          claims=("test KL: warm-up",)),
    # section 12: a classifier trained on shuffled labels; the CVAE decoded with the wrong label
    Break("F.cross_entropy(m(b[0]), b[1])", "F.cross_entropy(m(b[0]), b[1].flip(0))",
          claims=("classifier accuracy",)),
    Break("made = decode_mean(cvae, z_c, wanted)", "made = decode_mean(cvae, z_c, (wanted + 1) % N_CLASSES)",
          claims=("generated images classified",)),
]
