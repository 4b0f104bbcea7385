window.__THAR_CONFIG = {
  "userInfo" : {
    "accountId" : "1101234567890123456",
    "userName" : "birdbridge_demo",
    "displayName" : "Birdbridge Demo"
  },
  "archiveInfo" : {
    "sizeBytes" : "48213",
    "generationDate" : "2024-11-20T09:12:44.512Z",
    "isPartialArchive" : false,
    "maxPartSizeBytes" : "53687091200"
  },
  "readmeInfo" : {
    "fileName" : "data/README.txt",
    "directory" : "data/",
    "name" : "README.txt"
  },
  "dataTypes" : {
    "account" : {
      "files" : [
        {
          "fileName" : "data/account.js",
          "globalName" : "YTD.account.part0",
          "count" : "1"
        }
      ]
    },
    "noteTweet" : {
      "files" : [
        {
          "fileName" : "data/note-tweet.js",
          "globalName" : "YTD.note_tweet.part0",
          "count" : "1"
        }
      ]
    },
    "tweets" : {
      "files" : [
        {
          "fileName" : "data/tweets.js",
          "globalName" : "YTD.tweets.part0",
          "count" : "19"
        }
      ],
      "mediaDirectory" : "data/tweets_media"
    },
    "tweetsMedia" : {
      "mediaDirectory" : "data/tweets_media"
    },
    "twitterCircleTweet" : {
      "files" : [
        {
          "fileName" : "data/twitter-circle-tweet.js",
          "globalName" : "YTD.twitter_circle_tweet.part0",
          "count" : "1"
        }
      ],
      "mediaDirectory" : "data/twitter_circle_tweet_media"
    },
    "twitterCircleTweetMedia" : {
      "mediaDirectory" : "data/twitter_circle_tweet_media"
    }
  }
}