"""Provenance marks on generated images: IPTC DigitalSourceType in XMP and a signed C2PA manifest."""
