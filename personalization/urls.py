from rest_framework.routers import SimpleRouter

from personalization import apis, post_apis

router = SimpleRouter(trailing_slash=False)
router.register("contacts", apis.ContactApi, basename="contact")
router.register("publishing-channels", post_apis.PublishingChannelApi, basename="publishing-channel")
router.register("posts", post_apis.ScheduledPostApi, basename="scheduled-post")
router.register("campaigns", post_apis.CampaignApi, basename="campaign")

api_urls = router.urls
