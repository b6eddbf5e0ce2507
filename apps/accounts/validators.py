"""Password rules of our own (the rest are Django's: settings.AUTH_PASSWORD_VALIDATORS)."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError

CLASS_NAMES = ("小写字母", "大写字母", "数字", "符号")


def character_classes(password: str) -> int:
    """How many of the four kinds of character the password uses."""
    has_lower = any(c.islower() for c in password)
    has_upper = any(c.isupper() for c in password)
    has_digit = any(c.isdigit() for c in password)
    has_symbol = any(not (c.islower() or c.isupper() or c.isdigit()) for c in password)
    return sum((has_lower, has_upper, has_digit, has_symbol))


class CharacterClassesValidator:
    """At least ``min_classes`` (default 3) of the four kinds of character: lower-case letters,
    upper-case letters, digits, symbols (anything else, including spaces and Chinese
    punctuation; a Chinese character counts as a symbol).

    Three of four is how 等保 2.0 assessments usually read "口令复杂度"; with the minimum length
    of 8 it rules out "password1" and "12345678abc" while "test-pass-123" or "Liandong2026"
    pass, which a grid worker can still type on a phone keyboard."""

    def __init__(self, min_classes: int = 3):
        self.min_classes = min_classes

    def validate(self, password: str, user=None) -> None:
        if character_classes(password) < self.min_classes:
            raise ValidationError(self.message(), code="password_too_simple")

    def message(self) -> str:
        return (
            f"密码太简单：须包含{'、'.join(CLASS_NAMES)}中的至少 {self.min_classes} 类，请换一个。"
        )

    def get_help_text(self) -> str:
        return f"密码须包含{'、'.join(CLASS_NAMES)}中的至少 {self.min_classes} 类。"


# Django's own rules, with messages in Chinese that say what to do (Django's Chinese catalogue
# lacks some of them, and only states the fault).


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    def get_error_message(self) -> str:
        return f"密码太短：至少需要 {self.min_length} 个字符，请换一个更长的密码。"

    def get_help_text(self) -> str:
        return f"密码至少 {self.min_length} 个字符。"


class UserAttributeSimilarityValidator(password_validation.UserAttributeSimilarityValidator):
    def get_error_message(self) -> str:
        return "密码与账号的%(verbose_name)s太相似，请换一个与账号信息无关的密码。"

    def get_help_text(self) -> str:
        return "密码不能与账号的用户名、姓名、邮箱相似。"


class CommonPasswordValidator(password_validation.CommonPasswordValidator):
    def get_error_message(self) -> str:
        return "这个密码太常见，容易被猜中，请换一个。"

    def get_help_text(self) -> str:
        return "密码不能是常见密码。"


class NumericPasswordValidator(password_validation.NumericPasswordValidator):
    def get_error_message(self) -> str:
        return "密码不能全是数字，请加入字母或符号。"

    def get_help_text(self) -> str:
        return "密码不能全是数字。"
