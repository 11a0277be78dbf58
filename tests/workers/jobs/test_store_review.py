"""Job-store additions for review and delivery, on SQLite and PostgreSQL: keyset pages of jobs,
ad reviews (newest wins), deleting a campaign with its jobs, events, reviews and webhook outbox."""

from __future__ import annotations

import time

from workers.jobs.models import JobSpec
from workers.runtime import Runtime
from workers.settings import Settings


def test_keyset_pages_reviews_and_campaign_delete(wsettings: Settings) -> None:
    with Runtime(wsettings) as rt:
        t0 = time.time()
        ids = [rt.submit(JobSpec(kind="noop", params={"i": i}, tenant="acme", campaign_id="c1")).id for i in range(5)]
        other = rt.submit(JobSpec(kind="noop", params={"i": 9}, tenant="acme", campaign_id="c2")).id
        seen: list[str] = []
        before = None
        while True:
            page = rt.list(tenant="acme", campaign_id="c1", created_after=t0, before=before, limit=2)
            seen += [j.id for j in page]
            if len(page) < 2:
                break
            before = (page[-1].created_at, page[-1].id)
        assert sorted(seen) == sorted(ids) and len(seen) == 5
        assert rt.list(tenant="acme", created_before=t0) == []

        store = rt.store
        store.add_review("c1", "a1", ids[0], "rejected", "too dark", "acme/k1")
        store.add_review("c1", "a1", ids[0], "approved", "fixed", "acme/k1")
        store.add_review("c1", "b2", ids[1], "rejected", "wrong accent", "acme/k2")
        reviews = store.reviews("c1")
        assert {k: (v["state"], v["comment"]) for k, v in reviews.items()} == {
            "a1": ("approved", "fixed"), "b2": ("rejected", "wrong accent")}
        store.set_webhook(ids[0], "job", "acme", "https://hooks.example.com/x")
        assert store.enqueue_webhook_events(ids[0], [("job.succeeded", {"job": {"first_name": "Dee"}})])

        deleted = store.delete_campaign("c1")
        assert sorted(deleted) == sorted(ids)
        assert rt.list(campaign_id="c1") == [] and store.reviews("c1") == {}
        assert store.webhook(ids[0]) is None and store.webhook_log(ids[0])["events"] == []
        assert [j.id for j in rt.list(campaign_id="c2")] == [other]  # another campaign is untouched
