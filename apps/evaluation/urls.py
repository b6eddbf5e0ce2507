from django.urls import path

from apps.evaluation import views

app_name = "evaluation"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("indicators/", views.indicators, name="indicators"),
    path("scores/", views.scores, name="scores"),
    path("scores/<str:kind>/<int:subject_id>/", views.score_detail, name="score-detail"),
    path("hotspots/", views.hotspots, name="hotspots"),
    path("board/", views.board, name="board"),
    path("board.json", views.board_json, name="board-json"),
    path("help/", views.help_page, name="help"),
]
