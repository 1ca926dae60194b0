"""Deliberate breaks of lectures/10_sequence_autoencoders.ipynb: together they fail every claim."""
from lecture_breaks import Break

BREAKS = [
    # the conv-AE's score turned upside down (1 / error): faulty windows now score lowest, and its alarms
    # go off on the quietest normal windows
    Break("    return ((rebuilt - x) ** 2).mean(dim=(1, 2))",
          "    return ((rebuilt - x) ** 2).mean(dim=(1, 2)) ** (-1 if model is conv_ae else 1)",
          claims=("ROC AUC of the conv-AE on bearing faults", "share of the conv-AE's alarms")),
    # the LSTM-AE's 'reconstruction' is the window plus fresh noise: a score that knows nothing of the window
    Break("        rebuilt = model(x.to(DEVICE)).cpu()",
          "        rebuilt = x + torch.randn_like(x) if model is lstm_ae else model(x.to(DEVICE)).cpu()",
          claims=("mean ROC AUC of the LSTM-AE",)),
]
