window.YTD.twitter_circle_tweet.part0 = [
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1741611051906002944"
          ],
          "editableUntil" : "2024-01-01T01:03:27.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [ ],
        "symbols" : [ ],
        "user_mentions" : [ ],
        "urls" : [ ]
      },
      "display_text_range" : [
        "0",
        "56"
      ],
      "favorite_count" : "3",
      "id_str" : "1741611051906002944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1741611051906002944",
      "created_at" : "Mon Jan 01 00:03:27 +0000 2024",
      "favorited" : false,
      "full_text" : "Close friends only: new year plans, the cabin is booked!",
      "lang" : "en"
    }
  }
]