"""Plain domain types of the query node: queries, results, verdicts and errors.

Imports nothing from the rest of the project; every other layer speaks these types.
"""
