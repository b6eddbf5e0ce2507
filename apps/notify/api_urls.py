from django.urls import path

from apps.notify import api

urlpatterns = [
    path("", api.NotificationListApi.as_view(), name="notifications"),
    path("unread-count/", api.UnreadCountApi.as_view(), name="notifications-unread-count"),
    path("read-all/", api.MarkAllReadApi.as_view(), name="notifications-read-all"),
    path("<int:pk>/read/", api.MarkReadApi.as_view(), name="notification-read"),
    path("ticket/", api.TicketApi.as_view(), name="notifications-ticket"),
    path("desk-counts/", api.DeskCountsApi.as_view(), name="notifications-desk-counts"),
]
