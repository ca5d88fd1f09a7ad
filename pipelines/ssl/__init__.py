"""Speech representation models (the SSL seed, Hung et al. 2022): their hidden states beside the spectrogram."""
