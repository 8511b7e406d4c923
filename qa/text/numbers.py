"""Number words: the one table of English cardinals, tens, scales and ordinals.

The eval's normaliser reads "eighty-five" as 85 and "105 thousand" as 105000
with it (text2num was tried: it reads "105 thousand" as "105 1000"), and the
offline engine's patterns use :data:`QUANTITY_WORDS` to tell a sentence that
states an amount.
"""

from __future__ import annotations

UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17,
    "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30, "fortieth": 40,
    "fiftieth": 50, "sixtieth": 60, "seventieth": 70, "eightieth": 80, "ninetieth": 90,
    "hundredth": 100, "thousandth": 1000,
}  # fmt: skip

# Words that state an amount in a sentence ("hundreds of people", "a dozen boats").
QUANTITY_WORDS = frozenset(
    {word for word in UNITS if word != "zero"}
    | set(TENS)
    | {"hundred", *SCALES}
    | {"hundreds", "thousands", "millions", "billions", "dozen", "dozens", "half", "several"}
)
