"""Public pages for citizens, mounted at /track/ (no login)."""

from django.urls import path

from apps.public import board, views

app_name = "public"

urlpatterns = [
    path("", views.track, name="track"),
    path("board/", board.board_page, name="board"),
    path("clock/", views.clock_rule, name="clock"),
    path("verify/", views.verify, name="verify"),
    path("rate/", views.rate, name="rate"),
    path("report/", views.report, name="report"),
    path("t/<str:token>/", views.token_page, name="token"),
    path("p/<str:number>/<int:photo_id>/<str:size>.jpg", views.photo, name="photo"),
    path("map/grids.geojson", views.grids_geojson, name="grids"),
]
