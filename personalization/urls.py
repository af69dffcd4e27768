from rest_framework.routers import SimpleRouter

from personalization import apis

router = SimpleRouter(trailing_slash=False)
# The import is its own viewset (multipart uploads, one action) under the contacts prefix.
router.register("contacts/import", apis.ContactImportApi, basename="contact-import")
router.register("contacts", apis.ContactApi, basename="contact")
router.register("channels", apis.ChannelApi, basename="channel")
router.register("messages", apis.MessageApi, basename="message")
router.register("segments", apis.SegmentApi, basename="segment")
router.register("crisis-mode", apis.CrisisModeApi, basename="crisis-mode")
router.register("recommendations", apis.RecommendationApi, basename="recommendation")

api_urls = router.urls
