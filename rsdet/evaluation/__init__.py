"""Official evaluation protocols: COCO / AI-TOD (101-point AP), DOTA and DIOR (VOC AP)."""
