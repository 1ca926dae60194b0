"""Deliberate breaks of lectures/10_sequence_autoencoders.ipynb: together they fail every claim."""
from lecture_breaks import Break

BREAKS = [
    # the conv-AE's score turned upside down (1 / error): faulty windows now score lowest, and its alarms
    # go off on the quietest normal windows
    Break("    return (reconstruct_in_batches(model, x) - x).pow(2).mean(dim=(1, 2))",
          "    return (reconstruct_in_batches(model, x) - x).pow(2).mean(dim=(1, 2)) ** (-1 if model is conv_ae else 1)",
          claims=("ROC AUC of the conv-AE on bearing faults", "mean ROC AUC of the conv-AE",
                  "share of the conv-AE's alarms")),
    # the LSTM-AE replaced by a model that copies its input: every window scores 0, a coin toss (with the
    # conv-AE broken as well, neither autoencoder is left to match PCA)
    Break('detectors = {"LSTM-AE": lstm_ae,',
          'detectors = {"LSTM-AE": nn.Identity(),',
          claims=("mean ROC AUC of the LSTM-AE", "mean ROC AUC, the better autoencoder minus PCA-16")),
]
