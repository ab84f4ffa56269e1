from django.http import HttpResponse, JsonResponse
from django.urls import reverse


def index(request):
    return JsonResponse({
        "index": reverse("index"),
        "hello": reverse("hello", args=["wörld"]),
        "admin_login": reverse("admin:login"),
        "hello_absolute": request.build_absolute_uri(reverse("hello", args=["x"])),
        "path": request.path,
        "path_info": request.path_info,
        "script_name": request.META.get("SCRIPT_NAME"),
    })


def hello(request, name):
    return HttpResponse(f"Hello, {name}!\n", content_type="text/plain; charset=utf-8")
