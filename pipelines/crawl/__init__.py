"""The crawl stage's executor side: polite fetching of a URL frontier into WARC files, and
licensed media acquisition with yt-dlp.

    urls.py        URL normalization (url-normalize + courlan's tracker stripping) and links
    robots.py      robots.txt per host (protego, RFC 9309 status/redirect/size rules)
    politeness.py  one host's pacing: in-flight limit, delay, Retry-After back-off
    segments.py    rotating WARC files (warcio) with their outcome logs, published together
    fetch.py       one host's queue fetched with httpx; one Spark task crawls its hosts
    media.py       yt-dlp downloads of allow-listed sources whose metadata states a licence

A crawl is resumable because a task publishes each finished WARC file, then its log (one
JSON line per URL tried): the log is the commit. The driver (jobs/crawl.py) applies every
published log it has not applied to ops.frontier, so a killed run loses at most the open
segment of each host, and a rerun never refetches what a published log records.
"""
