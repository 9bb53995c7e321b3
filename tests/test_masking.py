from querynode.security.masking import mask_id_number, mask_name, mask_phone


def test_names():
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧阳**"
    assert mask_name("欧阳") == "欧*"
    assert mask_name("帕提古丽·阿里木") == "帕***·阿**"


def test_id_number_never_shows_birth_date():
    masked = mask_id_number("110105199003071234")
    assert masked == "110105********1234"
    assert "19900307" not in masked


def test_phone():
    assert mask_phone("13812341234") == "138****1234"


def test_a_death_result_holds_the_date_only_and_the_verdict_view_not_even_that():
    """Issue 18 L2 showed a death certificate number (the ID number from 2026-07-01) whole. The
    卫健委 MDEML reply carries no certificate number; the result keeps the date of death alone, so
    the reply's ID number, name and cause of death reach no view."""
    import dataclasses

    from querynode.domain import model as m
    from querynode.security.masking import present

    result = m.DeathResult(record=m.DeathRecord("2026-07-02"))
    assert [f.name for f in dataclasses.fields(m.DeathRecord)] == ["died_on"]
    for view in ("full", "masked"):
        assert present(result, view) == result
    # a verdict-only caller learns that a record exists, not the date
    assert present(result, "verdict") == m.DeathResult(record=m.DeathRecord(""))
