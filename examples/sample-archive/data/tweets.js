window.YTD.tweets.part0 = [
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1792578527032274944"
          ],
          "editableUntil" : "2024-05-20T16:30:00.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [
          {
            "text" : "opensource",
            "indices" : [
              "49",
              "60"
            ]
          }
        ],
        "symbols" : [ ],
        "user_mentions" : [
          {
            "name" : "Ann Example",
            "screen_name" : "ann_example",
            "indices" : [
              "21",
              "33"
            ],
            "id_str" : "987654321012345678",
            "id" : "987654321012345678"
          }
        ],
        "urls" : [
          {
            "url" : "https://t.co/Rl5Dm3Kp8Y",
            "expanded_url" : "https://example.org/birdbridge/release",
            "display_url" : "example.org/birdbridge/rel…",
            "indices" : [
              "61",
              "84"
            ]
          }
        ]
      },
      "display_text_range" : [
        "0",
        "84"
      ],
      "favorite_count" : "3",
      "id_str" : "1792578527032274944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1792578527032274944",
      "created_at" : "Mon May 20 15:30:00 +0000 2024",
      "favorited" : false,
      "full_text" : "🚀 Launch day! Thanks @ann_example for the review #opensource https://t.co/Rl5Dm3Kp8Y",
      "lang" : "en"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "edit" : {
          "initialTweetId" : "1763115638584274944",
          "editControlInitial" : {
            "editTweetIds" : [
              "1763115638584274944",
              "1763116645217234944"
            ],
            "editableUntil" : "2024-02-29T09:15:00.000Z",
            "editsRemaining" : "4",
            "isEditEligible" : true
          }
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
        "71"
      ],
      "favorite_count" : "3",
      "id_str" : "1763116645217234944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1763116645217234944",
      "created_at" : "Thu Feb 29 08:19:00 +0000 2024",
      "favorited" : false,
      "full_text" : "Leap day release of birdbridge is out. Try it, and tell me what breaks!",
      "lang" : "en"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1763115638584274944",
            "1763116645217234944"
          ],
          "editableUntil" : "2024-02-29T09:15:00.000Z",
          "editsRemaining" : "4",
          "isEditEligible" : true
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
        "46"
      ],
      "favorite_count" : "3",
      "id_str" : "1763115638584274944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1763115638584274944",
      "created_at" : "Thu Feb 29 08:15:00 +0000 2024",
      "favorited" : false,
      "full_text" : "Leap day release of birdbridge is out. Try it!",
      "lang" : "en"
    }
  },
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
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1711685544309714944"
          ],
          "editableUntil" : "2023-10-10T11:10:10.000Z",
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
        "3"
      ],
      "favorite_count" : "3",
      "id_str" : "1711685544309714944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1711685544309714944",
      "created_at" : "Tue Oct 10 10:10:10 +0000 2023",
      "favorited" : false,
      "full_text" : "🎉🎉🎉",
      "lang" : "und"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1676352760968146944"
          ],
          "editableUntil" : "2023-07-04T23:10:18.000Z",
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
        "89"
      ],
      "favorite_count" : "3",
      "id_str" : "1676352760968146944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1676352760968146944",
      "created_at" : "Tue Jul 04 22:10:18 +0000 2023",
      "favorited" : false,
      "full_text" : "Season finale thoughts, spoilers ahead: the lighthouse keeper was the narrator all along.",
      "lang" : "en",
      "possibly_sensitive" : true
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1633408460911570944"
          ],
          "editableUntil" : "2023-03-08T11:04:59.000Z",
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
        "urls" : [
          {
            "url" : "https://t.co/Sm1Lz9Qa7P",
            "expanded_url" : "https://twitter.com/i/web/status/1633408460911570944",
            "display_url" : "twitter.com/i/web/status/1…",
            "indices" : [
              "276",
              "299"
            ]
          }
        ]
      },
      "display_text_range" : [
        "0",
        "299"
      ],
      "favorite_count" : "3",
      "id_str" : "1633408460911570944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1633408460911570944",
      "created_at" : "Wed Mar 08 10:04:59 +0000 2023",
      "favorited" : false,
      "full_text" : "Why mirror an archive at all? Because years of posts are a record worth keeping where people can still read them. The archive has everything: photos, threads &amp; replies, even the long posts like this one. birdbridge reads it once, keeps a ledger, and sends each post exac… https://t.co/Sm1Lz9Qa7P",
      "lang" : "en"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1542616983663570944"
          ],
          "editableUntil" : "2022-06-30T22:12:04.000Z",
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
        "urls" : [
          {
            "url" : "https://t.co/Qt2Wm8Xc4V",
            "expanded_url" : "https://twitter.com/someone_else/status/1542312345678901249",
            "display_url" : "twitter.com/someone_else/…",
            "indices" : [
              "31",
              "54"
            ]
          }
        ]
      },
      "display_text_range" : [
        "0",
        "54"
      ],
      "favorite_count" : "3",
      "id_str" : "1542616983663570944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1542616983663570944",
      "created_at" : "Thu Jun 30 21:12:04 +0000 2022",
      "favorited" : false,
      "full_text" : "This is exactly what I meant 👇 https://t.co/Qt2Wm8Xc4V",
      "lang" : "en"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1493194690130898944"
          ],
          "editableUntil" : "2022-02-14T13:05:31.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [
          {
            "text" : "rustlang",
            "indices" : [
              "138",
              "147"
            ]
          }
        ],
        "symbols" : [ ],
        "user_mentions" : [
          {
            "name" : "Rust Language (example)",
            "screen_name" : "rustlang_example",
            "indices" : [
              "3",
              "20"
            ],
            "id_str" : "165262228",
            "id" : "165262228"
          }
        ],
        "urls" : [ ]
      },
      "display_text_range" : [
        "0",
        "188"
      ],
      "favorite_count" : "3",
      "id_str" : "1493194690130898944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1493194690130898944",
      "created_at" : "Mon Feb 14 12:05:31 +0000 2022",
      "favorited" : false,
      "full_text" : "RT @rustlang_example: Announcing a new release with faster builds, clearer error messages and a long list of fixes from 120 contributors. #rustlang Thank you all for testing the betas and…",
      "lang" : "en"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1428258114892754944"
          ],
          "editableUntil" : "2021-08-19T08:30:45.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [ ],
        "symbols" : [ ],
        "user_mentions" : [
          {
            "name" : "Ann Example",
            "screen_name" : "ann_example",
            "indices" : [
              "0",
              "12"
            ],
            "id_str" : "987654321012345678",
            "id" : "987654321012345678"
          }
        ],
        "urls" : [ ]
      },
      "display_text_range" : [
        "0",
        "64"
      ],
      "favorite_count" : "3",
      "id_str" : "1428258114892754944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1428258114892754944",
      "created_at" : "Thu Aug 19 07:30:45 +0000 2021",
      "favorited" : false,
      "full_text" : "@ann_example Thanks! The archive importer handles that case now.",
      "lang" : "en",
      "in_reply_to_status_id_str" : "1428123456789012345",
      "in_reply_to_status_id" : "1428123456789012345",
      "in_reply_to_user_id" : "987654321012345678",
      "in_reply_to_user_id_str" : "987654321012345678",
      "in_reply_to_screen_name" : "ann_example"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1377576473195474944"
          ],
          "editableUntil" : "2021-04-01T12:00:00.000Z",
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
        "urls" : [ ],
        "media" : [
          {
            "expanded_url" : "https://x.com/birdbridge_demo/status/1377576473195474944/video/1",
            "indices" : [
              "37",
              "60"
            ],
            "url" : "https://t.co/Gf5Kq1Zx8W",
            "media_url" : "http://pbs.twimg.com/tweet_video_thumb/ExGifDemoAbC12.jpg",
            "id_str" : "1377576473195450369",
            "id" : "1377576473195450369",
            "media_url_https" : "https://pbs.twimg.com/tweet_video_thumb/ExGifDemoAbC12.jpg",
            "sizes" : {
              "thumb" : {
                "w" : "150",
                "h" : "150",
                "resize" : "crop"
              },
              "small" : {
                "w" : "498",
                "h" : "280",
                "resize" : "fit"
              },
              "medium" : {
                "w" : "498",
                "h" : "280",
                "resize" : "fit"
              },
              "large" : {
                "w" : "498",
                "h" : "280",
                "resize" : "fit"
              }
            },
            "type" : "photo",
            "display_url" : "pic.x.com/Gf5Kq1Zx8W"
          }
        ]
      },
      "display_text_range" : [
        "0",
        "36"
      ],
      "favorite_count" : "3",
      "id_str" : "1377576473195474944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1377576473195474944",
      "created_at" : "Thu Apr 01 11:00:00 +0000 2021",
      "favorited" : false,
      "full_text" : "When the tests pass on the first try https://t.co/Gf5Kq1Zx8W",
      "lang" : "en",
      "extended_entities" : {
        "media" : [
          {
            "expanded_url" : "https://x.com/birdbridge_demo/status/1377576473195474944/video/1",
            "indices" : [
              "37",
              "60"
            ],
            "url" : "https://t.co/Gf5Kq1Zx8W",
            "media_url" : "http://pbs.twimg.com/tweet_video_thumb/ExGifDemoAbC12.jpg",
            "id_str" : "1377576473195450369",
            "id" : "1377576473195450369",
            "media_url_https" : "https://pbs.twimg.com/tweet_video_thumb/ExGifDemoAbC12.jpg",
            "sizes" : {
              "thumb" : {
                "w" : "150",
                "h" : "150",
                "resize" : "crop"
              },
              "small" : {
                "w" : "498",
                "h" : "280",
                "resize" : "fit"
              },
              "medium" : {
                "w" : "498",
                "h" : "280",
                "resize" : "fit"
              },
              "large" : {
                "w" : "498",
                "h" : "280",
                "resize" : "fit"
              }
            },
            "type" : "animated_gif",
            "display_url" : "pic.x.com/Gf5Kq1Zx8W",
            "video_info" : {
              "aspect_ratio" : [
                "249",
                "140"
              ],
              "variants" : [
                {
                  "bitrate" : "0",
                  "content_type" : "video/mp4",
                  "url" : "https://video.twimg.com/tweet_video/ExGifDemoAbC12.mp4"
                }
              ]
            },
            "additional_media_info" : {
              "monetizable" : false
            }
          }
        ]
      }
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1333452013433810944"
          ],
          "editableUntil" : "2020-11-30T17:45:09.000Z",
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
        "urls" : [ ],
        "media" : [
          {
            "expanded_url" : "https://x.com/birdbridge_demo/status/1333452013433810944/video/1",
            "indices" : [
              "52",
              "75"
            ],
            "url" : "https://t.co/Vd7Lm2Qp9R",
            "media_url" : "http://pbs.twimg.com/ext_tw_video_thumb/1333123456789012480/pu/img/Tq8sLw3MnB2vXc1Z.jpg",
            "id_str" : "1333452013433786369",
            "id" : "1333452013433786369",
            "media_url_https" : "https://pbs.twimg.com/ext_tw_video_thumb/1333123456789012480/pu/img/Tq8sLw3MnB2vXc1Z.jpg",
            "sizes" : {
              "thumb" : {
                "w" : "150",
                "h" : "150",
                "resize" : "crop"
              },
              "small" : {
                "w" : "680",
                "h" : "382",
                "resize" : "fit"
              },
              "medium" : {
                "w" : "1200",
                "h" : "675",
                "resize" : "fit"
              },
              "large" : {
                "w" : "1280",
                "h" : "720",
                "resize" : "fit"
              }
            },
            "type" : "photo",
            "display_url" : "pic.x.com/Vd7Lm2Qp9R"
          }
        ]
      },
      "display_text_range" : [
        "0",
        "51"
      ],
      "favorite_count" : "3",
      "id_str" : "1333452013433810944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1333452013433810944",
      "created_at" : "Mon Nov 30 16:45:09 +0000 2020",
      "favorited" : false,
      "full_text" : "Time-lapse of the build, 40 minutes in 20 seconds 🎬 https://t.co/Vd7Lm2Qp9R",
      "lang" : "en",
      "extended_entities" : {
        "media" : [
          {
            "expanded_url" : "https://x.com/birdbridge_demo/status/1333452013433810944/video/1",
            "indices" : [
              "52",
              "75"
            ],
            "url" : "https://t.co/Vd7Lm2Qp9R",
            "media_url" : "http://pbs.twimg.com/ext_tw_video_thumb/1333123456789012480/pu/img/Tq8sLw3MnB2vXc1Z.jpg",
            "id_str" : "1333452013433786369",
            "id" : "1333452013433786369",
            "media_url_https" : "https://pbs.twimg.com/ext_tw_video_thumb/1333123456789012480/pu/img/Tq8sLw3MnB2vXc1Z.jpg",
            "sizes" : {
              "thumb" : {
                "w" : "150",
                "h" : "150",
                "resize" : "crop"
              },
              "small" : {
                "w" : "680",
                "h" : "382",
                "resize" : "fit"
              },
              "medium" : {
                "w" : "1200",
                "h" : "675",
                "resize" : "fit"
              },
              "large" : {
                "w" : "1280",
                "h" : "720",
                "resize" : "fit"
              }
            },
            "type" : "video",
            "display_url" : "pic.x.com/Vd7Lm2Qp9R",
            "video_info" : {
              "aspect_ratio" : [
                "16",
                "9"
              ],
              "duration_millis" : "20021",
              "variants" : [
                {
                  "bitrate" : "832000",
                  "content_type" : "video/mp4",
                  "url" : "https://video.twimg.com/ext_tw_video/1333123456789012480/pu/vid/640x360/a1B2c3D4e5F6g7H8.mp4?tag=10"
                },
                {
                  "content_type" : "application/x-mpegURL",
                  "url" : "https://video.twimg.com/ext_tw_video/1333123456789012480/pu/pl/Xy7Wv6Ut5Sr4Qp3O.m3u8?tag=10"
                },
                {
                  "bitrate" : "2176000",
                  "content_type" : "video/mp4",
                  "url" : "https://video.twimg.com/ext_tw_video/1333123456789012480/pu/vid/1280x720/k3JdT0xYq2pWm8Rv.mp4?tag=10"
                },
                {
                  "bitrate" : "256000",
                  "content_type" : "video/mp4",
                  "url" : "https://video.twimg.com/ext_tw_video/1333123456789012480/pu/vid/480x270/Zz9Yy8Xx7Ww6Vv5U.mp4?tag=10"
                }
              ]
            },
            "additional_media_info" : {
              "monetizable" : false
            }
          }
        ]
      }
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1257672029893586944"
          ],
          "editableUntil" : "2020-05-05T15:02:33.000Z",
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
        "urls" : [ ],
        "media" : [
          {
            "expanded_url" : "https://x.com/birdbridge_demo/status/1257672029893586944/photo/1",
            "indices" : [
              "31",
              "54"
            ],
            "url" : "https://t.co/Nb4kR8sT1x",
            "media_url" : "http://pbs.twimg.com/media/EXa1Bc2De3Fg4Hi.png",
            "id_str" : "1257672029893562369",
            "id" : "1257672029893562369",
            "media_url_https" : "https://pbs.twimg.com/media/EXa1Bc2De3Fg4Hi.png",
            "sizes" : {
              "thumb" : {
                "w" : "150",
                "h" : "150",
                "resize" : "crop"
              },
              "small" : {
                "w" : "510",
                "h" : "680",
                "resize" : "fit"
              },
              "medium" : {
                "w" : "900",
                "h" : "1200",
                "resize" : "fit"
              },
              "large" : {
                "w" : "1536",
                "h" : "2048",
                "resize" : "fit"
              }
            },
            "type" : "photo",
            "display_url" : "pic.x.com/Nb4kR8sT1x"
          }
        ]
      },
      "display_text_range" : [
        "0",
        "30"
      ],
      "favorite_count" : "3",
      "id_str" : "1257672029893586944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1257672029893586944",
      "created_at" : "Tue May 05 14:02:33 +0000 2020",
      "favorited" : false,
      "full_text" : "Two pages from an old notebook https://t.co/Nb4kR8sT1x",
      "lang" : "en",
      "extended_entities" : {
        "media" : [
          {
            "expanded_url" : "https://x.com/birdbridge_demo/status/1257672029893586944/photo/1",
            "indices" : [
              "31",
              "54"
            ],
            "url" : "https://t.co/Nb4kR8sT1x",
            "media_url" : "http://pbs.twimg.com/media/EXa1Bc2De3Fg4Hi.png",
            "id_str" : "1257672029893562369",
            "id" : "1257672029893562369",
            "media_url_https" : "https://pbs.twimg.com/media/EXa1Bc2De3Fg4Hi.png",
            "sizes" : {
              "thumb" : {
                "w" : "150",
                "h" : "150",
                "resize" : "crop"
              },
              "small" : {
                "w" : "510",
                "h" : "680",
                "resize" : "fit"
              },
              "medium" : {
                "w" : "900",
                "h" : "1200",
                "resize" : "fit"
              },
              "large" : {
                "w" : "1536",
                "h" : "2048",
                "resize" : "fit"
              }
            },
            "type" : "photo",
            "display_url" : "pic.x.com/Nb4kR8sT1x"
          },
          {
            "expanded_url" : "https://x.com/birdbridge_demo/status/1257672029893586944/photo/2",
            "indices" : [
              "31",
              "54"
            ],
            "url" : "https://t.co/Nb4kR8sT1x",
            "media_url" : "http://pbs.twimg.com/media/EXa9Zy8Xw7Vu6Ts.jpg",
            "id_str" : "1257672029893562370",
            "id" : "1257672029893562370",
            "media_url_https" : "https://pbs.twimg.com/media/EXa9Zy8Xw7Vu6Ts.jpg",
            "sizes" : {
              "thumb" : {
                "w" : "150",
                "h" : "150",
                "resize" : "crop"
              },
              "small" : {
                "w" : "510",
                "h" : "680",
                "resize" : "fit"
              },
              "medium" : {
                "w" : "900",
                "h" : "1200",
                "resize" : "fit"
              },
              "large" : {
                "w" : "1536",
                "h" : "2048",
                "resize" : "fit"
              }
            },
            "type" : "photo",
            "display_url" : "pic.x.com/Nb4kR8sT1x"
          }
        ]
      }
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1216091918824402944"
          ],
          "editableUntil" : "2020-01-11T21:18:02.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [
          {
            "text" : "rustlang",
            "indices" : [
              "56",
              "65"
            ]
          }
        ],
        "symbols" : [ ],
        "user_mentions" : [ ],
        "urls" : [
          {
            "url" : "https://t.co/Zr9YbV4kLm",
            "expanded_url" : "https://doc.rust-lang.org/book/",
            "display_url" : "doc.rust-lang.org/book/",
            "indices" : [
              "72",
              "95"
            ]
          }
        ]
      },
      "display_text_range" : [
        "0",
        "95"
      ],
      "favorite_count" : "3",
      "id_str" : "1216091918824402944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1216091918824402944",
      "created_at" : "Sat Jan 11 20:18:02 +0000 2020",
      "favorited" : false,
      "full_text" : "3/3 Retries reuse the same idempotency key. More in the #rustlang docs: https://t.co/Zr9YbV4kLm",
      "lang" : "en",
      "in_reply_to_status_id_str" : "1216091579085778944",
      "in_reply_to_status_id" : "1216091579085778944",
      "in_reply_to_user_id" : "1101234567890123456",
      "in_reply_to_user_id_str" : "1101234567890123456",
      "in_reply_to_screen_name" : "birdbridge_demo"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1216091579085778944"
          ],
          "editableUntil" : "2020-01-11T21:16:41.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [ ],
        "symbols" : [ ],
        "user_mentions" : [
          {
            "name" : "Birdbridge Demo",
            "screen_name" : "birdbridge_demo",
            "indices" : [
              "0",
              "16"
            ],
            "id_str" : "1101234567890123456",
            "id" : "1101234567890123456"
          }
        ],
        "urls" : [ ]
      },
      "display_text_range" : [
        "17",
        "108"
      ],
      "favorite_count" : "3",
      "id_str" : "1216091579085778944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1216091579085778944",
      "created_at" : "Sat Jan 11 20:16:41 +0000 2020",
      "favorited" : false,
      "full_text" : "@birdbridge_demo 2/3 Every post is written to the ledger before it is sent, so a crash never sends it twice.",
      "lang" : "en",
      "in_reply_to_status_id_str" : "1216091155461074944",
      "in_reply_to_status_id" : "1216091155461074944",
      "in_reply_to_user_id" : "1101234567890123456",
      "in_reply_to_user_id_str" : "1101234567890123456",
      "in_reply_to_screen_name" : "birdbridge_demo"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1216091155461074944"
          ],
          "editableUntil" : "2020-01-11T21:15:00.000Z",
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
        "52"
      ],
      "favorite_count" : "3",
      "id_str" : "1216091155461074944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1216091155461074944",
      "created_at" : "Sat Jan 11 20:15:00 +0000 2020",
      "favorited" : false,
      "full_text" : "A short thread on mirroring posts exactly once 🧵 1/3",
      "lang" : "en"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1175108137120722944"
          ],
          "editableUntil" : "2019-09-20T19:03:07.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [ ],
        "symbols" : [ ],
        "user_mentions" : [
          {
            "name" : "The Chip Shop (example)",
            "screen_name" : "chipshop_example",
            "indices" : [
              "41",
              "58"
            ],
            "id_str" : "1012345678901234567",
            "id" : "1012345678901234567"
          }
        ],
        "urls" : [ ]
      },
      "display_text_range" : [
        "0",
        "86"
      ],
      "favorite_count" : "3",
      "id_str" : "1175108137120722944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1175108137120722944",
      "created_at" : "Fri Sep 20 18:03:07 +0000 2019",
      "favorited" : false,
      "full_text" : "Friday plan: fish &amp; chips &lt;3 with @chipshop_example. Ratings 1&gt;0, obviously.",
      "lang" : "en"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1135058762462162944"
          ],
          "editableUntil" : "2019-06-02T06:41:12.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [
          {
            "text" : "sunrise",
            "indices" : [
              "28",
              "36"
            ]
          },
          {
            "text" : "photography",
            "indices" : [
              "37",
              "49"
            ]
          }
        ],
        "symbols" : [ ],
        "user_mentions" : [ ],
        "urls" : [ ],
        "media" : [
          {
            "expanded_url" : "https://x.com/birdbridge_demo/status/1135058762462162944/photo/1",
            "indices" : [
              "50",
              "73"
            ],
            "url" : "https://t.co/Hb8sLw2PqZ",
            "media_url" : "http://pbs.twimg.com/media/D8kQx2aWsAE4yTn.jpg",
            "id_str" : "1135058762462138369",
            "id" : "1135058762462138369",
            "media_url_https" : "https://pbs.twimg.com/media/D8kQx2aWsAE4yTn.jpg",
            "sizes" : {
              "thumb" : {
                "w" : "150",
                "h" : "150",
                "resize" : "crop"
              },
              "small" : {
                "w" : "680",
                "h" : "453",
                "resize" : "fit"
              },
              "medium" : {
                "w" : "1200",
                "h" : "799",
                "resize" : "fit"
              },
              "large" : {
                "w" : "2048",
                "h" : "1365",
                "resize" : "fit"
              }
            },
            "type" : "photo",
            "display_url" : "pic.x.com/Hb8sLw2PqZ"
          }
        ]
      },
      "display_text_range" : [
        "0",
        "49"
      ],
      "favorite_count" : "3",
      "id_str" : "1135058762462162944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1135058762462162944",
      "created_at" : "Sun Jun 02 05:41:12 +0000 2019",
      "favorited" : false,
      "full_text" : "Morning over the harbour 🌅🌊 #sunrise #photography https://t.co/Hb8sLw2PqZ",
      "lang" : "en",
      "extended_entities" : {
        "media" : [
          {
            "expanded_url" : "https://x.com/birdbridge_demo/status/1135058762462162944/photo/1",
            "indices" : [
              "50",
              "73"
            ],
            "url" : "https://t.co/Hb8sLw2PqZ",
            "media_url" : "http://pbs.twimg.com/media/D8kQx2aWsAE4yTn.jpg",
            "id_str" : "1135058762462138369",
            "id" : "1135058762462138369",
            "media_url_https" : "https://pbs.twimg.com/media/D8kQx2aWsAE4yTn.jpg",
            "sizes" : {
              "thumb" : {
                "w" : "150",
                "h" : "150",
                "resize" : "crop"
              },
              "small" : {
                "w" : "680",
                "h" : "453",
                "resize" : "fit"
              },
              "medium" : {
                "w" : "1200",
                "h" : "799",
                "resize" : "fit"
              },
              "large" : {
                "w" : "2048",
                "h" : "1365",
                "resize" : "fit"
              }
            },
            "type" : "photo",
            "display_url" : "pic.x.com/Hb8sLw2PqZ",
            "ext_alt_text" : "A calm harbour at sunrise: orange sky, two fishing boats moored at a wooden pier."
          }
        ]
      }
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "1106124528284626944"
          ],
          "editableUntil" : "2019-03-14T10:26:53.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [
          {
            "text" : "birdbridge",
            "indices" : [
              "32",
              "43"
            ]
          }
        ],
        "symbols" : [ ],
        "user_mentions" : [ ],
        "urls" : [
          {
            "url" : "https://t.co/Qm3xT7bNa1",
            "expanded_url" : "https://example.org/birdbridge/notes",
            "display_url" : "example.org/birdbridge/notes",
            "indices" : [
              "92",
              "115"
            ]
          }
        ]
      },
      "display_text_range" : [
        "0",
        "115"
      ],
      "favorite_count" : "3",
      "id_str" : "1106124528284626944",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "1106124528284626944",
      "created_at" : "Thu Mar 14 09:26:53 +0000 2019",
      "favorited" : false,
      "full_text" : "Hello, fediverse-to-be! Testing #birdbridge, which will mirror this account. Project notes: https://t.co/Qm3xT7bNa1",
      "lang" : "en"
    }
  }
]