from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from core.audit import login_failure_recorded, login_recorded
        from core.compat import wait_for_install
        from core.metrics import metrics_directory_tidy

        wait_for_install()
        # Fold the metric files that stopped processes left behind, before this one starts counting.
        metrics_directory_tidy()

        # Every login route (the login page, the admin's) ends in these signals: the one place to listen.
        user_logged_in.connect(login_recorded, dispatch_uid="core.audit.login")
        user_login_failed.connect(login_failure_recorded, dispatch_uid="core.audit.login_failed")
        from axes.signals import user_locked_out

        from core.throttle import lockout_recorded

        user_locked_out.connect(lockout_recorded, dispatch_uid="core.throttle.locked_out")

        from django.contrib.auth.signals import user_logged_out

        from core.accounts import session_forget, session_record

        user_logged_in.connect(
            lambda sender, request, user, **kwargs: session_record(request=request, user=user),
            dispatch_uid="core.accounts.session_record",
            weak=False,
        )
        user_logged_out.connect(
            lambda sender, request, user, **kwargs: session_forget(
                session_key=getattr(getattr(request, "session", None), "session_key", None)
            ),
            dispatch_uid="core.accounts.session_forget",
            weak=False,
        )
