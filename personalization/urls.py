from rest_framework.routers import SimpleRouter

from personalization import apis, post_apis

router = SimpleRouter(trailing_slash=False)
# The import is its own viewset (multipart uploads, one action) under the contacts prefix.
router.register("contacts/import", apis.ContactImportApi, basename="contact-import")
router.register("contacts", apis.ContactApi, basename="contact")
router.register("channels", apis.ChannelApi, basename="channel")
router.register("messages", apis.MessageApi, basename="message")
router.register("segments", apis.SegmentApi, basename="segment")
router.register("crisis-mode", apis.CrisisModeApi, basename="crisis-mode")
router.register("recommendations", apis.RecommendationApi, basename="recommendation")
router.register("publishing-channels", post_apis.PublishingChannelApi, basename="publishing-channel")
router.register("posts", post_apis.ScheduledPostApi, basename="scheduled-post")
router.register("campaigns", post_apis.CampaignApi, basename="campaign")

api_urls = router.urls
