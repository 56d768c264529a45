"""Barcodes and labels: IDs, GS1, layouts, symbols, ESC/POS jobs and printers, PDF, decoding.

A library with no web or database imports; the server, the scanner agent and the CLI use it.
"""
