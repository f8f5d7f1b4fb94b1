"""chatd: a self-hosted real-time messaging server for firms and their clients.

This package composes protocol/, storage/ and scheduler/; nothing imports it.
"""
