from django.shortcuts import redirect

from apps.org.models import Role


def home(request):
    """Send each person to the screen they work in."""
    user = request.user
    if not user.is_authenticated:
        return redirect("/track/")
    role = getattr(getattr(user, "profile", None), "role", None)
    if role in (Role.GRID_WORKER, Role.GRID_LEADER, Role.DEPARTMENT_HANDLER):
        return redirect("/field/")
    if role == Role.LEADER:
        return redirect("/evaluation/")
    return redirect("/admin/")
