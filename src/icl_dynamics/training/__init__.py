"""Training: the shared trainer loop (``trainer``), its resumable, locked state folder (``state``) and
checkpoint schedules (``schedules``)."""
