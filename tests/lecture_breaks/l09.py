"""Deliberate breaks of lectures/09_jepa_embedding_prediction.ipynb: together they fail every claim."""
from lecture_breaks import Break

BREAKS = [
    # the 'I-JEPA' trained without EMA target and stop-gradient: it collapses, and its EMA copy never moves
    Break("jepa, jepa_encoder, jepa_trace, jepa_history = train_jepa(stop_gradient=True)",
          "jepa, jepa_encoder, jepa_trace, jepa_history = train_jepa(stop_gradient=False)",
          claims=("spread with EMA target", "probe accuracy, JEPA minus random encoder")),
    # the 'naive' run given the stop-gradient and EMA target after all: nothing collapses
    Break("naive, naive_encoder, naive_trace, naive_history = train_jepa(stop_gradient=False)",
          "naive, naive_encoder, naive_trace, naive_history = train_jepa(stop_gradient=True)",
          claims=("spread without stop-gradient", "final loss without stop-gradient",
                  "probe accuracy, random encoder minus JEPA without stop-grad")),
    # wrong baselines: the JEPA's own representation probed under the names of raw pixels and the autoencoder
    Break('f"raw pixels ({D})": lambda x: x.reshape(len(x), -1),',
          'f"raw pixels ({D})": lambda x: jepa.target_encoder(x).mean(dim=1),',
          claims=("probe accuracy, raw pixels minus JEPA",)),
    Break('f"autoencoder latent ({EMB})": lambda x: autoencoder[0](x.reshape(len(x), -1)),',
          'f"autoencoder latent ({EMB})": lambda x: jepa.target_encoder(x).mean(dim=1),',
          claims=("probe accuracy, autoencoder minus JEPA",)),
]
