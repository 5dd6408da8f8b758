"""Reporting: tables and figures from metrics and comparison results."""
