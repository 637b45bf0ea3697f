"""Polling triggers named in connector.yaml."""
