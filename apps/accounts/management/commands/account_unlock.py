"""Lift a login lock from the command line: ``manage.py account_unlock USERNAME`` (the same
service as the admin action, recorded in the account log) or ``--ip ADDRESS`` for a locked
address (an office behind one address)."""

from __future__ import annotations

from axes.utils import reset as axes_reset
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import account_unlock


class Command(BaseCommand):
    help = "解除登录锁定：按账号（记入账号操作记录）或按 IP 地址。"

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", help="要解除锁定的账号")
        parser.add_argument("--ip", help="要解除锁定的 IP 地址")

    def handle(self, *args, username=None, ip=None, **options):
        if not username and not ip:
            raise CommandError("请给出要解除锁定的账号，或用 --ip 给出 IP 地址。")
        if username:
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"账号“{username}”不存在，请检查拼写。")
            cleared = account_unlock(actor=None, user=user)
            self.stdout.write(f"已解除账号“{username}”的登录锁定（清除 {cleared} 条失败记录）。")
        if ip:
            cleared = axes_reset(ip=ip)
            self.stdout.write(f"已解除 IP {ip} 的登录锁定（清除 {cleared} 条失败记录）。")
