"""The registered models. Plain data: importing this module must stay cheap (no torch)."""

from __future__ import annotations

from openbind.registry import ModelEntry, register

ALL = ("text", "image", "video", "audio", "depth", "thermal", "imu")

# Entries are added by each family (imagebind, starter, ...) below.
