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
