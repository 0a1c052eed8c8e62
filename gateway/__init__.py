"""The missing-episode gateway: police missing-person notifications to council case systems."""
