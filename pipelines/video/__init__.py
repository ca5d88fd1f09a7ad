"""Talking-face video: decoding, MediaPipe face landmarks and aligned mouth crops for the lip encoder."""
