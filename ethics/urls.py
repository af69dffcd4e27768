from rest_framework.routers import SimpleRouter

from ethics import apis

router = SimpleRouter(trailing_slash=False)
router.register("purposes", apis.PurposeApi, basename="purpose")
router.register("contacts", apis.ContactConsentApi, basename="contact-consent")
router.register("consent/verify", apis.ConsentVerifyApi, basename="consent-verify")
router.register("consent/events", apis.ConsentBatchApi, basename="consent-events")
router.register("dsrs", apis.DsrApi, basename="dsr")
router.register("retention", apis.RetentionApi, basename="retention")

api_urls = router.urls
