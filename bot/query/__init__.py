"""The query language: parse (text -> Query), period, stems, and the Query model."""
