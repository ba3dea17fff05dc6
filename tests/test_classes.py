import pytest

from kb.classes import LOCATION_CLASSES, UnknownLocationError, class_index, normalize_class


def test_ten_classes_in_deeploc_order():
    assert len(LOCATION_CLASSES) == 10
    assert len(set(LOCATION_CLASSES)) == 10


@pytest.mark.parametrize(
    "given,expected",
    [
        ("Cell membrane", "Cell.membrane"),
        ("cell.membrane", "Cell.membrane"),
        ("CELL_MEMBRANE", "Cell.membrane"),
        ("Lysosome/Vacuole", "Lysosome/Vacuole"),
        ("lysosome vacuole", "Lysosome/Vacuole"),
        ("Endoplasmic reticulum", "Endoplasmic.reticulum"),
        (" golgi-apparatus ", "Golgi.apparatus"),
    ],
)
def test_normalize_is_case_and_separator_insensitive(given, expected):
    assert normalize_class(given) == expected


def test_every_canonical_name_maps_to_itself():
    for i, c in enumerate(LOCATION_CLASSES):
        assert normalize_class(c) == c
        assert class_index(c.lower()) == i


def test_unknown_location_names_value_and_place():
    with pytest.raises(UnknownLocationError) as e:
        normalize_class("Cytosol-ish", where="x.csv, row 3")
    assert "x.csv, row 3" in str(e.value) and "Cytosol-ish" in str(e.value)
    assert isinstance(e.value, ValueError)
