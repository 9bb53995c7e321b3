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


def test_masked_view_masks_death_certificate_numbers():
    """Issue 18 L2: from 2026-07-01 a death certificate number is the ID number; the masked view
    showed it whole."""
    from querynode.domain import model as m
    from querynode.security.masking import present

    number = "11010519491231002X"
    result = m.DeathResult(record=m.DeathRecord("2026-07-02", number, "北京市朝阳医院", "I21"))
    masked = present(result, "masked")
    assert masked.record.certificate_number == "110105********002X"
    assert masked.record.died_on == "2026-07-02" and masked.record.issuer == "北京市朝阳医院"
    assert present(result, "full").record.certificate_number == number
