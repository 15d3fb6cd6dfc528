"""The forms an MCP server may ask the user to fill in (the protocol's restricted JSON Schema), and the checks an
answer passes before it goes back to the server."""

from __future__ import annotations

import pytest

from mcp_servers.elicitation import UnsupportedForm, elicitation_content_validate, elicitation_fields

FORM = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "Name", "minLength": 2, "maxLength": 5},
        "site": {"type": "string", "format": "uri"},
        "born": {"type": "string", "format": "date"},
        "meet": {"type": "string", "format": "date-time"},
        "guests": {"type": "integer", "minimum": 1, "maximum": 8},
        "ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "agree": {"type": "boolean"},
        "pet": {"type": "string", "enum": ["cat", "dog"], "enumNames": ["Cat", "Dog"]},
        "hero": {"type": "string", "oneOf": [{"const": "h1", "title": "Superman"}]},
        "tools": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 1, "maxItems": 2},
    },
    "required": ["name"],
}


def test_it_reads_every_kind_of_field_the_protocol_allows():
    fields = {f.name: f for f in elicitation_fields(FORM)}

    assert [f.kind for f in fields.values()] == [
        "string", "string", "string", "string", "integer", "number", "boolean", "choice", "choice", "choices",
    ]  # fmt: skip
    assert fields["name"].required and not fields["site"].required
    assert fields["pet"].options == (("cat", "Cat"), ("dog", "Dog"))
    assert fields["hero"].options == (("h1", "Superman"),)
    assert (fields["tools"].min_items, fields["tools"].max_items) == (1, 2)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"nested": {"type": "object", "properties": {}}}},
        {"type": "object", "properties": {"when": {"type": "string", "format": "color"}}},
        {"type": "object", "properties": {"list": {"type": "array", "items": {"type": "string"}}}},
        {"type": "array", "items": {}},
    ],
)
def test_it_refuses_a_form_of_anything_but_primitive_fields(schema):
    with pytest.raises(UnsupportedForm):
        elicitation_fields(schema)


def test_it_takes_an_answer_that_fits_and_makes_whole_numbers_integers():
    answer = {"name": "Ada", "site": "https://ada.example", "born": "1815-12-10", "meet": "2026-07-28T09:30:00Z",
              "guests": 2.0, "ratio": 0.5, "agree": True, "pet": "cat", "hero": "h1", "tools": ["a", "c"]}  # fmt: skip

    checked = elicitation_content_validate(FORM, answer)

    assert checked == {**answer, "guests": 2}
    assert isinstance(checked["guests"], int)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({}, "'Name' is required."),
        ({"name": "A"}, "'Name' must be at least 2 characters long."),
        ({"name": "Adalbert"}, "'Name' must be at most 5 characters long."),
        ({"name": 5}, "'Name' must be text."),
        ({"name": "Ada", "site": "ada.example"}, "'site' must be a URI, such as https://example.com/."),
        ({"name": "Ada", "born": "10/12/1815"}, "'born' must be a date, such as 2026-07-28."),
        ({"name": "Ada", "meet": "soon"}, "'meet' must be a date and time, such as 2026-07-28T09:30:00Z."),
        ({"name": "Ada", "guests": 2.5}, "'guests' must be a whole number."),
        ({"name": "Ada", "guests": True}, "'guests' must be a number."),
        ({"name": "Ada", "ratio": 2}, "'ratio' must be at most 1."),
        ({"name": "Ada", "agree": "yes"}, "'agree' must be true or false."),
        ({"name": "Ada", "pet": "Cat"}, "'pet' must be one of: cat, dog."),
        ({"name": "Ada", "tools": ["a", "a"]}, "'tools' names an option twice."),
        ({"name": "Ada", "tools": ["a", "b", "c"]}, "'tools' takes at most 2 choice(s)."),
        ({"name": "Ada", "tools": []}, "'tools' needs at least 1 choice(s)."),
        ({"name": "Ada", "extra": 1}, "'extra' is not a field of this form."),
        (["Ada"], "The answer must be an object of the form's fields."),
    ],
)
def test_it_refuses_an_answer_that_does_not_fit_with_a_clear_reason(answer, message):
    with pytest.raises(ValueError) as refused:
        elicitation_content_validate(FORM, answer)
    assert str(refused.value) == message
