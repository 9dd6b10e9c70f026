"""Tests of the peer transport (Noise, secure session)."""
