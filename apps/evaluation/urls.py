from django.urls import path

from apps.evaluation import views, views_hotspots, views_scores

app_name = "evaluation"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("indicators/", views.indicators, name="indicators"),
    path("scores/", views_scores.scores, name="scores"),
    path("scores/<str:kind>/<int:subject_id>/", views_scores.score_detail, name="score-detail"),
    path("hotspots/", views_hotspots.hotspots, name="hotspots"),
    path("board/", views_hotspots.board, name="board"),
    path("board.json", views_hotspots.board_json, name="board-json"),
    path("help/", views.help_page, name="help"),
]
