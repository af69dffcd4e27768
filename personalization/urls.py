from rest_framework.routers import SimpleRouter

from personalization import apis

router = SimpleRouter(trailing_slash=False)
router.register("contacts", apis.ContactApi, basename="contact")

api_urls = router.urls
