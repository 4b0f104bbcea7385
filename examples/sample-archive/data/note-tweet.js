window.YTD.note_tweet.part0 = [
  {
    "noteTweet" : {
      "noteTweetId" : "1633400123456789504",
      "updatedAt" : "2023-03-08T10:04:59.000Z",
      "lifecycle" : {
        "value" : "1",
        "name" : "Active",
        "originalName" : "Active",
        "annotations" : { }
      },
      "createdAt" : "2023-03-08T10:04:59.000Z",
      "core" : {
        "styletags" : [ ],
        "urls" : [
          {
            "shortUrl" : "https://t.co/Lp3Nt6Ws2E",
            "expandedUrl" : "https://example.org/birdbridge/why",
            "displayUrl" : "example.org/birdbridge/why",
            "fromIndex" : "373",
            "toIndex" : "396"
          }
        ],
        "text" : "Why mirror an archive at all? Because years of posts are a record worth keeping where people can still read them. The archive has everything: photos, threads & replies, even the long posts like this one. birdbridge reads it once, keeps a ledger, and sends each post exactly once, at a pace the server accepts. Thanks to @ann_example for testing the first version. Details: https://t.co/Lp3Nt6Ws2E #fediverse #archives",
        "mentions" : [
          {
            "screenName" : "ann_example",
            "fromIndex" : "320",
            "toIndex" : "332"
          }
        ],
        "cashtags" : [ ],
        "hashtags" : [
          {
            "text" : "fediverse",
            "fromIndex" : "397",
            "toIndex" : "407"
          },
          {
            "text" : "archives",
            "fromIndex" : "408",
            "toIndex" : "417"
          }
        ]
      }
    }
  }
]