"""Text for the linguistic branch: transcripts (Whisper), word error rate, and BERT features."""
