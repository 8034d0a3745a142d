"""The witness: watches the runs for what needs a person, and for money and hours running out."""
