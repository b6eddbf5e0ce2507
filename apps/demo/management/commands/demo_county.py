"""``python manage.py demo_county`` — the deterministic demo county (see apps/demo/)."""

from __future__ import annotations

import os
import time

from django.core.management.base import BaseCommand, CommandError

from apps.demo.county import DEMO_PASSWORD, build_demo_county, demo_accounts
from apps.org.models import Region, Tier

# How many accounts of each kind to list before summarising the rest.
SHOW_PER_ROLE = 3


class Command(BaseCommand):
    help = "Create the demo county (towns, villages, grids, departments, people, categories, calendar)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--seed", type=int, default=2025, help="same seed, same county (default 2025)"
        )
        parser.add_argument("--towns", type=int, default=8)
        parser.add_argument("--villages-per-town", type=float, default=7.5)
        parser.add_argument(
            "--grids", type=int, default=200, help="number of grids (10000 for benchmarks)"
        )
        parser.add_argument(
            "--history",
            type=int,
            default=0,
            metavar="N",
            help="also fabricate N historical cases (1000000 for benchmarks)",
        )
        parser.add_argument(
            "--history-days",
            type=int,
            default=None,
            help="spread the history over this many days (default: about 500 cases a day)",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing (but list the accounts) when a county already exists",
        )
        parser.add_argument(
            "--quiet-accounts", action="store_true", help="do not list the accounts"
        )

    def handle(self, *args, **options):
        exists = Region.objects.filter(tier=Tier.COUNTY).exists()
        if exists and not options["if_empty"] and not options["history"]:
            raise CommandError(
                "这个数据库里已经有区县了。用 --if-empty 跳过，或只用 --history N 追加历史事件。"
            )
        if not exists:
            if options["towns"] < 1 or options["grids"] < 2 * options["towns"]:
                raise CommandError("--grids 至少要是 --towns 的两倍。")
            started = time.monotonic()
            try:
                demo = build_demo_county(
                    seed=options["seed"],
                    towns=options["towns"],
                    villages_per_town=options["villages_per_town"],
                    grids=options["grids"],
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(
                self.style.SUCCESS(
                    f"示范区县已生成：{demo.county.name}（{demo.county.code}），{len(demo.towns)} 个乡镇/街道，"
                    f"{len(demo.villages)} 个村/社区，{demo.grids} 个网格，{demo.users} 个账号，"
                    f"{demo.places} 个场所，"
                    f"用时 {time.monotonic() - started:.1f} 秒。"
                )
            )
            if demo.calendar_note:
                self.stdout.write(demo.calendar_note)
        elif options["if_empty"] and not options["history"]:
            self.stdout.write("已有区县数据，跳过示范数据生成。")
        if options["history"]:
            self._history(options)
        if not options["quiet_accounts"]:
            self._print_accounts()

    def _history(self, options) -> None:
        from apps.demo.history import generate_history

        n = options["history"]
        started = time.monotonic()

        def progress(done: int) -> None:
            if done % 100_000 == 0 or done == n:
                elapsed = time.monotonic() - started
                self.stdout.write(
                    f"  历史事件 {done:,}/{n:,}（{done / max(elapsed, 1e-6):,.0f} 条/秒）"
                )

        try:
            generate_history(
                n, seed=options["seed"], days=options["history_days"], progress=progress
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"已生成 {n:,} 条历史事件，用时 {time.monotonic() - started:.1f} 秒。"
                "考核汇总请运行 python manage.py evaluation_rebuild。"
            )
        )

    def _print_accounts(self) -> None:
        accounts = demo_accounts()
        if not accounts:
            return
        by_role: dict[str, list[tuple[str, str, str]]] = {}
        for row in accounts:
            by_role.setdefault(row[1], []).append(row)
        self.stdout.write("")
        self.stdout.write(f"示范账号（密码均为 {DEMO_PASSWORD}）：")
        self.stdout.write(f"  {'用户名':<12}{'角色':<16}所属")
        self.stdout.write(f"  {'admin':<14}{'超级管理员':<14}全部")
        for role, rows in by_role.items():
            for username, label, org in rows[:SHOW_PER_ROLE]:
                self.stdout.write(f"  {username:<14}{label:<14}{org}")
            if len(rows) > SHOW_PER_ROLE:
                self.stdout.write(
                    f"  …… 另有 {len(rows) - SHOW_PER_ROLE} 个{role}账号（{rows[-1][0]} 为最后一个）"
                )
        # run.py serves on HOST/PORT; say the address the user will actually open.
        base = f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
        self.stdout.write(
            f"登录：{base}/accounts/login/ ；后台 {base}/admin/ ；现场端 {base}/field/"
        )
